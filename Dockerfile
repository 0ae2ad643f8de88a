# khub, configured by environment (KHUB_STORE, KHUB_NEO4J_URI, ...; see README).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 KHUB_DATA_DIR=/data
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-chi-sim \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY graph graph
COPY ingest ingest
COPY reasoning reasoning
COPY api api
COPY ontology ontology
# unstructured's fast PDF path imports unstructured-inference; its declared deps pull CUDA stacks we never use
RUN pip install . && pip install --no-deps unstructured-inference==1.6.14 \
 && useradd --create-home khub && mkdir -p /data && chown khub /data
USER khub
VOLUME ["/data"]
ENTRYPOINT ["khub"]
CMD ["stats"]
