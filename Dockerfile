# pricebot: slim image, non-root user; migrates the database, then runs every configured bot.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PRICEBOT_DATABASE_URL=sqlite+aiosqlite:////data/pricebot.db

RUN useradd --create-home --uid 10001 pricebot && mkdir /data && chown pricebot /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY adapters ./adapters
COPY migrations ./migrations
RUN pip install --no-compile . && rm -rf /root/.cache

USER pricebot
VOLUME /data
CMD ["sh", "-c", "pricebot migrate && exec pricebot run"]
