# syntax=docker/dockerfile:1
# tradepost: one `tradepost serve` per container (workers by TRADEPOST_WORKERS), as a
# non-root user, migrating the database before it serves. The build and start steps are
# docker/build.sh and docker/entrypoint.sh, which tests/platform/test_package.py runs as is.
#
#   docker build -t tradepost .
#   docker run -p 8000:8000 -e TRADEPOST_DATABASE_URL=postgresql+psycopg://... tradepost
#   docker compose up          # with PostgreSQL: compose.yaml

FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN docker/build.sh /src /opt/tradepost

FROM python:3.11-slim
# DejaVu Sans: the PDFs' fallback for scripts the packaged Noto Sans lacks
RUN apt-get update \
    && apt-get install --yes --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /var/lib/tradepost --create-home tradepost
COPY --from=build /opt/tradepost /opt/tradepost
COPY docker/entrypoint.sh /usr/local/bin/tradepost-entrypoint
ENV PATH=/opt/tradepost/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TRADEPOST_HOST=0.0.0.0 \
    TRADEPOST_PORT=8000 \
    TRADEPOST_WORKERS=1 \
    TRADEPOST_LOG_JSON=true \
    TRADEPOST_DATABASE_URL=sqlite:////var/lib/tradepost/tradepost.db
USER tradepost
WORKDIR /var/lib/tradepost
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TRADEPOST_PORT', '8000'), timeout=2)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["tradepost-entrypoint"]
