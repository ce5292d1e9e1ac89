"""``paperbot eval retrieval``: nDCG@10, recall and MRR on a BEIR-format dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.app import JsonOpt, err, out, print_json, progress_bar, run_or_exit
from bot.cli.commands.eval import eval_app

__all__ = ["eval_retrieval"]

RETRIEVERS = ("bm25", "dense", "hybrid")


@eval_app.command("retrieval")
def eval_retrieval(
    beir: Annotated[
        Path,
        typer.Option(
            "--beir",
            help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.",
            file_okay=False,
        ),
    ],
    split: Annotated[str, typer.Option("--split", help="train, dev or test.")] = "test",
    retriever: Annotated[
        str, typer.Option("--retriever", help="bm25, dense or hybrid (the default retriever).")
    ] = "hybrid",
    k: Annotated[int, typer.Option("-k", help="Results per query.", min=10, max=500)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval on a BEIR dataset: nDCG@10, Recall@10/100, MRR@10, latency.

    The corpus is ingested into its own collection of the configured store (named after the
    folder and a hash of the corpus, chunking and embedding model), so a second run reuses it.
    Latency is per query, after a warm-up query (model and index loading excluded).
    """
    if retriever not in RETRIEVERS:
        err.print(f"[bold red]error:[/] --retriever must be one of {', '.join(RETRIEVERS)}")
        raise typer.Exit(1)

    def setup():  # type: ignore[no-untyped-def]
        from bot.evaluation.retrieval import load_beir
        from bot.index.embeddings import make_embedder
        from bot.settings import load_settings

        settings = load_settings()
        return load_beir(beir, split), settings, make_embedder(settings)

    dataset, settings, embedder = run_or_exit(setup)
    from bot.evaluation.retrieval import evaluate_retrieval, ingest_beir

    with progress_bar(not as_json and err.is_terminal) as progress:
        bot, embedded = run_or_exit(lambda: ingest_beir(dataset, settings, embedder, progress, k))
    report = run_or_exit(lambda: evaluate_retrieval(bot, dataset, retriever, k))
    data = report.to_dict()
    data.update(
        {
            "split": split,
            "collection": bot.settings.store.collection,
            "papers_embedded": embedded,
            "papers": len(dataset.papers),
        }
    )
    if as_json:
        print_json(data)
        return
    out.print(
        f"{dataset.root.name} ({split}, {report.queries} queries, {len(dataset.papers)} docs; "
        f"retriever {retriever}, k={k})"
    )
    for key in ("ndcg@10", "recall@10", "recall@100", "mrr@10"):
        out.print(f"  {key:11} {data[key]:.4f}")
    lat = data["latency_ms"]
    out.print(
        f"  latency    p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, mean {lat['mean']:.1f} ms"
    )
    out.print(
        f"[dim]collection {bot.settings.store.collection}: "
        + ("reused" if not embedded else f"{embedded} papers embedded")
        + "[/]"
    )
