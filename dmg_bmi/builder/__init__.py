"""`dmg-bmi config-builder`: a local web page that builds run and BMI init configs from the one definition of
every key (`dmg_bmi.core.schema`), validates them server-side with the same definitions, and saves YAML.

- `form`: the form schema the page renders (json-editor's JSON Schema dialect) and the server's problems
  placed on their fields;
- `server`: the HTTP server (127.0.0.1 only) and its JSON API;
- `static/`: the page itself; the form widgets come from json-editor (MIT), a system asset (`server.asset`).
"""
