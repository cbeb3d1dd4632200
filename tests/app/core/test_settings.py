"""Settings read from the environment: where the catalog index lives (V2M_INDEX_URL)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_index_url_is_empty_a_milvus_lite_file_or_a_server(tmp_path, monkeypatch) -> None:
    assert Settings().index_url == ""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("V2M_INDEX_URL", "var/index.db")
    assert Settings().index_url == str(tmp_path / "var" / "index.db")  # absolute
    for url in ("http://milvus:19530", "https://10.0.0.7:443"):
        monkeypatch.setenv("V2M_INDEX_URL", url)
        assert Settings().index_url == url


@pytest.mark.parametrize(
    "url",
    ["milvus:19530", "http://milvus", "grpc://milvus:19530", "index.sqlite", "http://:19530"],
)
def test_a_bad_index_url_is_a_clear_error(url, monkeypatch) -> None:
    monkeypatch.setenv("V2M_INDEX_URL", url)
    with pytest.raises(ValidationError, match=r"V2M_INDEX_URL: expected .*\.db.*host:port"):
        Settings()
