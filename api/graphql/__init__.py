"""khub's GraphQL API (Strawberry): schema, DataLoaders, limits, authorisation and the FastAPI router.

`graphql_router(context_dependency)` is what the app mounts at `/graphql`; `build_schema()` is
the schema alone (e.g. to print it: `print(build_schema().as_str())`).
"""

from api.graphql.router import graphql_router
from api.graphql.schema import build_schema

__all__ = ["build_schema", "graphql_router"]
