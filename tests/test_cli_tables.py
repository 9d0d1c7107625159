"""CLI tables on narrow terminals: every figure whole, or the rows as blocks of `column: value`."""

from __future__ import annotations

from rich.table import Table

from marketpilot.cli.app import console, print_table


def _coupons() -> Table:
    table = Table(title="Coupons")
    for header in ("group", "customers", "coupon", "per arm\nneeded", "verdict"):
        table.add_column(header)
    table.add_row(
        "细分2：重要保持客户为主", "77", "满400减35 / 满400减65", "234,306 / 58,399", "underpowered"
    )
    table.add_row("细分8：一般发展客户为主", "10", "—", "—", "too_small")
    return table


def test_a_table_too_wide_for_the_terminal_prints_each_row_whole(monkeypatch) -> None:
    monkeypatch.setattr(console, "width", 60)
    with console.capture() as out:
        print_table(_coupons())
    lines = out.get().splitlines()
    assert "…" not in out.get()
    assert lines[:6] == [
        "Coupons",
        "group: 细分2：重要保持客户为主",
        "  customers: 77",
        "  coupon: 满400减35 / 满400减65",
        "  per arm needed: 234,306 / 58,399",
        "  verdict: underpowered",
    ]
    assert "  verdict: too_small" in lines


def test_a_table_that_fits_prints_as_a_table(monkeypatch) -> None:
    monkeypatch.setattr(console, "width", 160)
    with console.capture() as out:
        print_table(_coupons())
    assert "┃ group" in out.get() and "234,306 / 58,399" in out.get() and "…" not in out.get()
