"""The layer check's own test: it must fail on a circle, or passing it proves nothing.

    python3 -m unittest tests/layers/test_check.py
"""

import os
import subprocess
import sys
import tempfile
import unittest

CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check.py")


def run(files):
    """Writes {relative path: text} under a temporary src/ and runs the check on it."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        for rel, text in files.items():
            path = os.path.join(src, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        p = subprocess.run([sys.executable, CHECK, "--src", src], capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr


class LayerCheck(unittest.TestCase):
    def test_one_way_passes(self):
        code, out = run({
            "lib.rs": "mod low;\nmod high;\npub use high::Api;\n",
            "low/mod.rs": "pub struct Frame;\n",
            "high/mod.rs": "use crate::low::Frame;\npub struct Api(Frame);\n",
        })
        self.assertEqual(code, 0, out)
        self.assertIn("0: low", out)

    def test_folder_circle_fails_and_names_the_files(self):
        code, out = run({
            "lib.rs": "mod a;\nmod b;\n",
            "a/mod.rs": "mod inner;\n",
            "a/inner.rs": "use crate::{b::Thing, a::Other};\n",
            "b/mod.rs": "pub fn f() -> crate::a::Other { todo!() }\n",
        })
        self.assertEqual(code, 1, out)
        self.assertIn("src/a/inner.rs", out)
        self.assertIn("src/b/mod.rs", out)

    def test_circle_through_a_root_reexport_fails(self):
        # `crate::Config` is config's: a lower module naming it depends on config.
        code, out = run({
            "lib.rs": "mod config;\nmod engine;\npub use config::Config;\n",
            "config.rs": "use crate::engine::Engine;\npub struct Config;\n",
            "engine/mod.rs": "pub struct Engine(crate::Config);\n",
        })
        self.assertEqual(code, 1, out)

    def test_comments_and_strings_do_not_count(self):
        code, out = run({
            "lib.rs": "mod a;\nmod b;\n",
            "a/mod.rs": "use crate::b::X;\n",
            "b/mod.rs": "// crate::a::Y\nconst S: &str = \"crate::a::Z\";\npub struct X;\n",
        })
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    unittest.main()
