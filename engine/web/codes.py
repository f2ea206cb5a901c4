"""Every ``code`` an error answer of the service or the workbench can carry, and what it means.

One table: the OpenAPI document's enum of ``ErrorBody.code`` is its keys, and
a test walks the engine's error classes and every literal code handed to the
error shape, so a code raised anywhere and missing here fails the suite.
"""

from __future__ import annotations

__all__ = ["ERROR_CODES"]

ERROR_CODES: dict[str, str] = {
    # the protocol, routing and the body guard
    "bad_request": "The request is not one the service can read (HTTP, header or parameter).",
    "malformed_json": "The body is not strict JSON: syntax, NaN/Infinity, duplicate keys, "
                      "nesting too deep, or no body at all.",
    "invalid_host": "The Host header names no host in allowed_hosts.",
    "unauthorized": "No API key, an unknown one, or an expired one.",
    "forbidden": "The key lacks the role the endpoint needs.",
    "not_found": "No such endpoint.",
    "method_not_allowed": "The endpoint does not take this method.",
    "not_acceptable": "The endpoint cannot answer in the media type asked for.",
    "request_timeout": "The request's headers did not arrive within header_timeout_s.",
    "conflict": "The request conflicts with the state of a resource.",
    "payload_too_large": "The body, or an uploaded workbook unpacked, is over its limit.",
    "unsupported_media_type": "The Content-Type is not one the endpoint takes.",
    "invalid_request": "A field of the request broke its rule (details name path and value).",
    "too_many_requests": "Too many requests at once.",
    "headers_too_large": "The request's headers are over max_header_bytes or max_headers.",
    "internal_error": "An unexpected failure; the service logged it and keeps serving.",
    "unavailable": "The service cannot take the request now (connection limit, store down).",
    "http_error": "Another HTTP refusal (its status says which).",
    "batch_too_large": "More items in one request than batch_limit.",
    "idempotency_conflict": "The Idempotency-Key was used with another body.",
    "idempotency_in_progress": "The first request with this Idempotency-Key is still "
                               "being answered.",
    # input handed to the engine
    "invalid_input": "Data handed to the engine is unusable.",
    "invalid_record": "A customer record broke a field rule.",
    "invalid_frame": "A whole input frame or file is unusable.",
    "unsupported_language": "A language or audience the engine does not speak.",
    "customer_not_found": "No stored event or outcome for this customer.",
    "customer_not_decided": "The customer has no logged decision to apply collections to.",
    "notice_not_found": "The decision's policies do not include the legal document asked for.",
    "event_rejected": "A payment event broke a rule (details name the field and reason).",
    "duplicate_event": "An event with this id is already stored.",
    # the decision log
    "decision_not_found": "No logged decision has this id.",
    "decision_duplicate": "A decision with this id is already logged.",
    "decision_is_a_run": "The id names a batch run, whose decisions are its output's rows.",
    "decision_is_a_step": "The id names a collection step, not a credit decision.",
    "decision_tampered": "A logged decision no longer matches its digest.",
    "audit_store_unavailable": "The decision log or the event store cannot be reached.",
    "archive_error": "An archive of what decided cannot be read or written.",
    "archive_missing": "An archive of what decided is not in the log.",
    # tables, models, releases and the workbench
    "config_error": "A configuration, registry or catalogue file is wrong.",
    "table_error": "A decision table has a problem at file:line.",
    "table_set_error": "A set of tables has problems; it is refused whole.",
    "tables_rejected": "The tables on disk failed their checks; the active set stays.",
    "table_check_unfinished": "A table check's child process gave no result.",
    "decision_error": "A table misbehaved while deciding.",
    "model_error": "A model artifact is missing, corrupted or inconsistent.",
    "model_governance": "A trained model failed the publication checks.",
    "publish_refused": "A release cannot be published.",
    "baseline_refused": "An impact baseline that is not saved, a release, a git revision of "
                        "the project or a folder inside the home.",
    "candidate_refused": "An impact run's candidate or baseline cannot be used.",
    "invalid_notation": "A rule written in the workbench's notation cannot be read.",
    "invalid_edit": "A workbench edit cannot be applied.",
    "invalid_workbook": "An uploaded workbook cannot be read.",
}
