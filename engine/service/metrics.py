"""Prometheus metrics: requests and latency by route, decisions by grade and policy.

Each application owns its registry, so several apps in one process (tests)
never share counters. Routes are labelled by their template
(``/v1/decisions/{decision_id}``), never by the raw path, to keep the label
set small; a request the body guard refuses before routing is labelled with
the route it was sent to, found by matching its path against the app's
routes.

With several uvicorn workers, ``gridcredit serve`` runs Prometheus in
multiprocess mode: it points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder
before any worker starts, every worker writes its counts there, and
``/metrics`` from any worker sums all of them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    values,
)
from prometheus_client import generate_latest as _generate
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.decision import Decision

__all__ = ["CONTENT_TYPE", "MULTIPROC_ENV", "Metrics", "MetricsMiddleware", "multiprocess_mode"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_mode() -> bool:
    """Whether prometheus_client counts in shared files (the variable was set before import)."""
    return values.ValueClass is not values.MutexValue

CONTENT_TYPE = CONTENT_TYPE_LATEST
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's counters and histograms in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("gridcredit_http_requests", "HTTP requests answered.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("gridcredit_http_request_duration_seconds",
                                 "Time from request to the last response byte.",
                                 ["method", "route"], buckets=_BUCKETS, registry=self.registry)
        self.decisions = Counter("gridcredit_decisions", "Decisions made and logged, by grade.",
                                 ["grade"], registry=self.registry)
        self.policies = Counter("gridcredit_policies", "Policies given in logged decisions.",
                                ["policy"], registry=self.registry)
        self.reloads = Counter("gridcredit_table_reloads", "Table reloads by outcome.",
                               ["outcome"], registry=self.registry)

        # Labelled children, looked up once per label set: ``labels()`` takes a lock
        # and builds its key on every call, a cost paid on every request otherwise.
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, kept after its first use."""
        key = (metric, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def count_decisions(self, decisions: Iterable[Decision]) -> None:
        for d in decisions:
            self.child(self.decisions, d.grade.grade).inc()
            for p in d.policies:
                self.child(self.policies, p.policy_id).inc()

    def render(self) -> bytes:
        """The text exposition: this app's registry, or every worker's in multiprocess mode."""
        if multiprocess_mode():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return _generate(registry)
        return _generate(self.registry)


class MetricsMiddleware:
    """Time every HTTP request and count it by method, route template and status."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = _Templates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = (getattr(route, "path", None) or self.templates.of(scope)
                        or "<unmatched>")
            method = scope["method"]
            metrics = self.metrics
            metrics.child(metrics.requests, method, template, str(status)).inc()
            metrics.child(metrics.latency, method, template).observe(
                time.perf_counter() - started)



class _Templates:
    """Route templates of an app's OpenAPI paths, compiled once, to label refused requests."""

    def __init__(self) -> None:
        self._compiled: list[tuple[Any, str]] | None = None

    def of(self, scope: Scope) -> str | None:
        if self._compiled is None:
            app = scope.get("app")
            paths = app.openapi().get("paths", {}) if hasattr(app, "openapi") else {}
            self._compiled = [(compile_path(p)[0], p) for p in paths]
        path = scope.get("path", "")
        return next((template for regex, template in self._compiled if regex.match(path)),
                    None)
