"""Research tools the Researcher may call before proposing: literature search (the arXiv API)
and dataset search (the Hugging Face Hub: search, card, a few rows).

Offline (ftbench.offline: HF_HUB_OFFLINE, HF_DATASETS_OFFLINE, TRANSFORMERS_OFFLINE or TREX_OFFLINE set,
or the first request fails) every tool answers from the task's `catalog` and says plainly that the web is unreachable;
the flags are checked first, and each request has a 5 s timeout, so nothing hangs.
"""
from __future__ import annotations

import json
import logging
import re
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from enum import StrEnum

from pydantic import BaseModel, Field

from ftbench.offline import is_offline
from trex.llm.schema_lint import reply_schema

log = logging.getLogger(__name__)

ARXIV = "http://export.arxiv.org/api/query?search_query=all:{q}&max_results=5"
ROWS = "https://datasets-server.huggingface.co/first-rows?dataset={d}&config={c}&split={s}"
SPLITS = "https://datasets-server.huggingface.co/splits?dataset={d}"
MAX_ANSWER = 1500
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


class Tool(StrEnum):
    LITERATURE_SEARCH = "literature_search"   # query: keywords
    DATASET_SEARCH = "dataset_search"         # query: keywords
    DATASET_CARD = "dataset_card"             # query: a Hub dataset id
    DATASET_ROWS = "dataset_rows"             # query: a Hub dataset id
    DONE = "done"                             # stop researching, propose


def offline_flags() -> bool:
    return is_offline()


def _clip(text: str, limit: int = MAX_ANSWER) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ResearchTools:
    """Answers tool calls; falls back to the catalog (and stays offline) once the web fails."""

    def __init__(self, catalog: str, offline: bool | None = None, timeout_s: float = 5.0) -> None:
        self.catalog, self.timeout_s = catalog.strip(), timeout_s
        self.offline = offline_flags() if offline is None else offline

    def call(self, tool: Tool, query: str) -> str:
        query = query.strip()[:200]
        if tool is Tool.DONE:
            return ""
        if not self.offline:
            try:
                return _clip(self._online(tool, query))
            except Exception as err:   # noqa: BLE001 - any network failure means: answer offline
                log.info("research tool %s failed (%s); answering from the task catalog from now on", tool, err)
                self.offline = True
        return self.from_catalog(query)

    def from_catalog(self, query: str) -> str:
        words = {w for w in re.findall(r"\w{4,}", query.lower())}
        lines = self.catalog.splitlines()
        hits = [ln for ln in lines if words & set(re.findall(r"\w{4,}", ln.lower()))]
        body = "\n".join(hits) if hits else self.catalog
        return _clip("The web is unreachable (offline mode): no live search was possible. "
                     "What is known offline, from the task's catalog of data sources:\n" + (body or "(empty catalog)"))

    # -- online -----------------------------------------------------------------
    def _get(self, url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:   # fixed https/http hosts
            return resp.read()

    def _online(self, tool: Tool, query: str) -> str:
        if tool is Tool.LITERATURE_SEARCH:
            return self.literature(query)
        if tool is Tool.DATASET_SEARCH:
            return self.datasets(query)
        if not HUB_ID.fullmatch(query):
            return f"{query!r} is not a Hub dataset id (owner/name); use dataset_search first"
        return self.card(query) if tool is Tool.DATASET_CARD else self.rows(query)

    def literature(self, query: str) -> str:
        feed = ET.fromstring(self._get(ARXIV.format(q=urllib.parse.quote(query))))
        ns = {"a": "http://www.w3.org/2005/Atom"}
        out = []
        for entry in feed.findall("a:entry", ns):
            title = " ".join((entry.findtext("a:title", "", ns)).split())
            summary = " ".join((entry.findtext("a:summary", "", ns)).split())[:240]
            out.append(f"- {title} ({entry.findtext('a:id', '', ns)}): {summary}")
        return "arXiv results:\n" + ("\n".join(out) or "(none)")

    def datasets(self, query: str) -> str:
        from huggingface_hub import HfApi

        found = list(HfApi().list_datasets(search=query, limit=5, sort="downloads"))
        return "Hub datasets:\n" + ("\n".join(f"- {d.id} ({d.downloads or 0} downloads)" for d in found) or "(none)")

    def card(self, name: str) -> str:
        from huggingface_hub import HfApi

        info = HfApi().dataset_info(name, timeout=self.timeout_s)
        text = str(getattr(info, "card_data", "") or "")
        return f"Card of {name} (tags: {', '.join((info.tags or [])[:12])}):\n{text}"

    def rows(self, name: str) -> str:
        splits = json.loads(self._get(SPLITS.format(d=urllib.parse.quote(name))))["splits"]
        first = next((s for s in splits if s["split"] == "train"), splits[0])
        data = json.loads(self._get(ROWS.format(d=urllib.parse.quote(name), c=urllib.parse.quote(first["config"]),
                                                s=urllib.parse.quote(first["split"]))))
        rows = [json.dumps(r["row"], ensure_ascii=False)[:300] for r in data.get("rows", [])[:3]]
        return f"First rows of {name} ({first['config']}/{first['split']}):\n" + "\n".join(rows)


class ToolStep(BaseModel):
    """One step of the research loop, as the LLM replies."""

    tool: Tool
    query: str = Field(max_length=200)


def action_schema() -> dict:
    """JSON schema of one tool step."""
    return reply_schema(ToolStep)
