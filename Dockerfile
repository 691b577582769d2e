# The Switchboard service: `switchboard serve` (HTTP, and by default one supervised `switchboard worker` process)
# or `switchboard worker` alone, on a PostgreSQL with pgvector that you run. The embedded PostgreSQL is off here
# (EMBEDDED_POSTGRES=false): the service refuses to start without DATABASE_URL.
#
#   docker build -t switchboard .
#   docker run -e DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/DB -p 8000:8000 switchboard
#
# BASE_IMAGE is any Debian bookworm image with Python 3.11+ and its venv module; deploy/check-image.sh builds this
# file from a Debian base it makes with debootstrap (no container registry is needed) and runs it.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/switchboard
COPY pyproject.toml README.md /src/
COPY bot /src/bot
COPY agents /src/agents
COPY tools /src/tools
COPY knowledge /src/knowledge
COPY migrations /src/migrations
RUN /opt/switchboard/bin/pip install /src

FROM ${BASE_IMAGE}
# A fixed numeric id, so orchestrators that require a non-root user (runAsNonRoot) can check it.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/switchboard --create-home \
        --shell /usr/sbin/nologin switchboard
COPY --from=build /opt/switchboard /opt/switchboard
ENV PATH=/opt/switchboard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SWITCHBOARD_HOME=/var/lib/switchboard \
    EMBEDDED_POSTGRES=false \
    LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/switchboard
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# `switchboard` is PID 1 and handles SIGTERM itself: it stops taking work and finishes what runs, within
# SHUTDOWN_GRACE_SECONDS (give the container's stop timeout a little more).
ENTRYPOINT ["switchboard"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
