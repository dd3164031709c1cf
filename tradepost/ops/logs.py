"""Logging setup for ``tradepost serve``: readable lines by default, JSON in production."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from tradepost.settings import Settings

_RECORD_FIELDS = set(vars(logging.makeLogRecord({})))


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    formatter = (
        {"()": "tradepost.ops.logs.JSONFormatter"}
        if settings.log_json
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default"}},
        "loggers": {
            "tradepost": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "connexion": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        },
    }
