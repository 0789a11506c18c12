"""The demo: label a bundled sample of product reviews on the embedded emulator.

No key, no network: the answers come from :func:`keyword_sentiment`, a deliberately crude
synthetic model plugged into the local emulator. It answers the way real models sometimes
do (``**Positive**``, ``Label: negative``, chatter), so the demo also shows how answers are
normalised and how an answer that is not exactly one label is reported, never guessed.

Examples
--------
>>> keyword_sentiment({"messages": [{"role": "user", "content": "Review: Great kettle!"}]},
...                   custom_id="sf1")
'positive'
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import Any, cast

import polars as pl
import xxhash

__all__ = ["DEMO_LABELS", "DEMO_PROMPT", "keyword_sentiment", "load_sample", "run_demo"]

DEMO_LABELS = ["positive", "negative", "neutral"]
DEMO_PROMPT = "What is the sentiment of this review of a {product}?\n\nReview: {review}"

_POSITIVE = ("love", "great", "excellent", "fantastic", "happy", "wonderful", "exceeded")
_NEGATIVE = ("broke", "terrible", "disappointed", "awful", "poor", "useless", "horrible")


def load_sample() -> pl.DataFrame:
    """The bundled sample: a few hundred short product reviews (some repeated).

    Columns: ``review_id``, ``product``, ``review``, and ``gold``: a sentiment label
    (``positive``, ``negative`` or ``neutral``, :data:`DEMO_LABELS`) given by hand to each
    review (a fact about delivery or colour is neutral), so a run can be measured with no
    key: ``siraya_frames.evaluate(out, truth="gold")``.

    Examples
    --------
    >>> sample = load_sample()
    >>> sample.columns, sorted(sample["gold"].unique())
    (['review_id', 'product', 'review', 'gold'], ['negative', 'neutral', 'positive'])
    """
    source = importlib.resources.files("siraya_frames") / "data" / "reviews.csv"
    with importlib.resources.as_file(source) as path:
        return pl.read_csv(path)


def _review_text(params: dict[str, Any]) -> str:
    content = params["messages"][-1]["content"]
    text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
    start = text.find("Review:")
    end = text.find("\n", start)
    return text[start : end if end > 0 else None].lower()


def keyword_sentiment(params: dict[str, Any], *, custom_id: str) -> str:
    """A synthetic model: a keyword rule, answering in a few realistic styles."""
    review = _review_text(params)
    if any(w in review for w in _POSITIVE):
        label = "positive"
    elif any(w in review for w in _NEGATIVE):
        label = "negative"
    else:
        label = "neutral"
    style = xxhash.xxh32_intdigest(custom_id.encode()) % 10
    if style == 0:
        return f"**{label.title()}**"
    if style == 1:
        return f"Label: {label}."
    if style == 2:
        return f"I would say the review is {label}, mostly."
    return label


def _emulator(seconds_per_request: float) -> Any:
    from siraya_frames.emulator import Emulator

    return Emulator(responder=keyword_sentiment, seconds_per_request=seconds_per_request)


def run_demo(
    output: str | os.PathLike[str] = "demo_labeled.parquet",
    *,
    rows: int | None = None,
    seconds_per_request: float = 0.002,
    progress: bool = True,
) -> pl.DataFrame:
    """Label the sample on the embedded emulator and write ``output``; return the frame."""
    import tempfile

    import siraya_frames as sf

    df = load_sample()
    df = df.head(rows) if rows else df
    with _emulator(seconds_per_request) as emu, sf.SirayaClient("demo-key", emu.base_url) as client:
        job_dir = Path(tempfile.mkdtemp(prefix="siraya-demo-job-"))
        # A DataFrame in, waited for, not a dry run: a DataFrame out.
        return cast(
            pl.DataFrame,
            sf.run(
                df,
                prompt=DEMO_PROMPT,
                model="openai/gpt-4o-mini-batch",
                max_tokens=16,
                labels=DEMO_LABELS,
                client=client,
                job_dir=job_dir,
                output=output,
                progress=progress,
                show_summary=False,
            ),
        )
