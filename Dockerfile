# khub, configured by environment (KHUB_STORE, KHUB_NEO4J_URI, ...; see README).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 KHUB_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY graph graph
COPY ingest ingest
COPY reasoning reasoning
COPY api api
COPY ontology ontology
RUN pip install . && useradd --create-home khub && mkdir -p /data && chown khub /data
USER khub
VOLUME ["/data"]
ENTRYPOINT ["khub"]
CMD ["stats"]
