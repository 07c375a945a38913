"""Reading a ``GET /metrics`` answer in tests: every sample by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from meshpos.localapi import LocalApi


class Samples(dict[tuple[str, frozenset[tuple[str, str]]], float]):
    def get_one(self, name: str, **labels: str) -> float | None:
        return self.get((name, frozenset(labels.items())))

    def one(self, name: str, **labels: str) -> float:
        value = self.get_one(name, **labels)
        assert value is not None, f"no sample {name}{labels} in {sorted(k[0] for k in self)}"
        return value

    def labelled(self, name: str) -> dict[frozenset[tuple[str, str]], float]:
        return {labels: v for (n, labels), v in self.items() if n == name}


def parse(text: str) -> Samples:
    samples = Samples()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def scrape(api: LocalApi) -> Samples:
    answer = api.request("GET", "/metrics")
    assert answer.status == 200, answer.body
    return parse(answer.body)
