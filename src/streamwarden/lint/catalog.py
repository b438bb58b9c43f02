"""Every rule, read off the families' registries (SARIF rule metadata, docs): never by hand."""

from __future__ import annotations

from typing import Any

from streamwarden.lint import (
    apigateway,
    envoy,
    gunicorn,
    haproxy,
    ingress,
    nginx,
    routetimeouts,
    signals,
    terraform,
    traefik,
    uvicorn,
    uwsgi,
    workloads,
)
from streamwarden.lint.registry import Registry, RuleInfo

REGISTRIES: tuple[Registry[Any], ...] = (
    nginx.rules,
    gunicorn.rules,
    uvicorn.rules,
    haproxy.rules,
    ingress.rules,
    workloads.rules,
    envoy.rules,
    routetimeouts.gateway_api,
    routetimeouts.ai_gateway,
    routetimeouts.istio,
    routetimeouts.cloud_run,
    traefik.rules,
    terraform.alb,
    terraform.gcp,
    terraform.cloud_run,
    terraform.cloudfront,
    apigateway.rules,
    signals.rules,
    uwsgi.rules,
)

INFOS: dict[str, RuleInfo] = {info.id: info for registry in REGISTRIES for info in registry.infos()}
RULES: dict[str, str] = {rule_id: info.title for rule_id, info in INFOS.items()}
