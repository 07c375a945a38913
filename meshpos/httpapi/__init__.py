"""The HTTP layer both APIs stand on: the node's (``meshpos.web``) and the console's (``meshpos.console.api``).

A small HTTP/1.1 server (``server``), a route table whose declarations validate requests (``routes``), JSON
values and JSON Schema from the same Python types (``schema``) and the OpenAPI document generated from the
routes (``openapi``). It knows neither a node nor a console, so the console does not depend on the node's
web layer (docs/architecture.md (Layers)).
"""
