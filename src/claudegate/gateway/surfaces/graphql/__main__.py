"""``python -m claudegate.gateway.surfaces.graphql``: print the schema (``docs/schema.graphql``)."""

from claudegate.gateway.surfaces.graphql import schema_text

print(schema_text(), end="")
