# syntax=docker/dockerfile:1
# The bot as a wheel, installed (not editable) in a slim image that runs as a non-root user.
# Build: docker build -t zzik-bot .   Run: see docker-compose.yml and deploy/kubernetes/.

# -- build: dependencies as wheels (their own layer, rebuilt only when pyproject.toml changes), then the bot's wheel
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip wheel --wheel-dir /wheels/deps --requirement requirements.txt
COPY README.md LICENSE setup.py ./
COPY bot ./bot
COPY migrations ./migrations
RUN pip wheel --no-deps --wheel-dir /wheels/bot .

# -- run
# The same pinned base as the build stage, so the wheels built there fit.
FROM python:3.11.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_FORMAT=json ZZIK_DATA_DIR=/data PORT=3000
RUN groupadd --system --gid 10001 zzik \
    && useradd --system --uid 10001 --gid zzik --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin zzik \
    && mkdir /data \
    && chown zzik:zzik /data
COPY --from=build /wheels/deps /wheels/deps
RUN pip install --no-index --find-links /wheels/deps /wheels/deps/*.whl && rm -rf /wheels/deps
COPY --from=build /wheels/bot /wheels/bot
RUN pip install --no-index --no-deps /wheels/bot/*.whl && rm -rf /wheels/bot
# The embedded PostgreSQL's home, used only when DATABASE_URL is not set.
VOLUME /data
USER 10001:10001
WORKDIR /data
EXPOSE 3000
# Liveness, not readiness: an unhealthy container may be restarted (Swarm, autoheal), and a restart mends no
# database outage. /livez checks the process only; /healthz (503 while the database is down) is for routing.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('PORT', '3000'), timeout=4); sys.exit(0)"]
ENTRYPOINT ["zzik-bot"]
CMD ["serve"]
