#!/usr/bin/env bash
# Install the Debian packages khub's tests need, when missing: Java 17 + Maven (the embedded
# Neo4j), tesseract with simplified Chinese (OCR), a CJK font (tests draw Chinese scans),
# Chromium (GraphiQL is rendered headless with the network cut).
# Used by `make test` and `.ci/run`. Without root it only says what to install.
set -euo pipefail
need=()
{ command -v java && command -v javac; } >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v make >/dev/null 2>&1 || need+=(make)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
{ command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep chi_sim >/dev/null; } || need+=(tesseract-ocr tesseract-ocr-chi-sim)
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "khub needs these Debian packages: ${need[*]}" >&2
  echo "install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
