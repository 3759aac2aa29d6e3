"""Write the generated config docs (docs/config_reference.md and the marked blocks of README.md and
bmi_configs/README.md) from the definitions in the code: `python tools/make_config_docs.py`.
`tests/test_config_reference.py` fails while the files differ from what this writes."""

from pathlib import Path

from dmg_bmi.config_reference import generated_docs

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    for path, text in generated_docs(ROOT).items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
