"""How many email results per second one PostgreSQL server stores.

Measures the database side of emaild alone, without DNS. The results are real
checks of generated test-bed domains, reused for synthetic rows. They are claimed
and stored in batches by 1, 2 and 4 writer processes against a throwaway
PostgreSQL cluster on this machine. Reported: claimed-and-stored rows
per second for each writer count. There is no baseline and no target: the number
sizes a deployment (see the README's scale-out section).

    ./dev bench store_rate --domains 20000 --batch 1000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import BenchmarkReport, load_domains, migrate  # noqa: E402


def _writer(dsn: str, template: list[dict], batch: int, instance: str, queue) -> None:
    from dnsscience._core import Connection
    from dnsscience.store import email as email_store

    connection = Connection(dsn)
    stored = 0
    while True:
        claimed = email_store.claim_due(
            connection, limit=batch, rescan_days=7, instance=instance, lease_seconds=600
        )
        if not claimed:
            break
        results = []
        for index, (domain_id, name) in enumerate(claimed):
            result = dict(template[index % len(template)])
            result["domain"] = name
            result["domain_id"] = domain_id
            results.append(result)
        stored += email_store.store_results(connection, results, instance)
    connection.close()
    queue.put(stored)


def _templates(bed, count: int) -> list[dict]:
    from dnsscience.email import check_email_many

    names = bed.domains[:count]
    return [result.to_dict() for result in check_email_many(names, nameservers=[bed.nameserver])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=20_000, help="rows per run (20000)")
    parser.add_argument("--batch", type=int, default=1000, help="rows per transaction (1000)")
    parser.add_argument("--writers", default="1,2,4", help="writer counts to try (1,2,4)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    arguments = parser.parse_args()

    from dnsscience.testbed import TestBed

    report = BenchmarkReport("store_rate")
    report.print_machine()
    with TestBed(domains=2000, seed=3, postgres=True) as bed:
        templates = _templates(bed, 500)
        names = [f"row-{index}.store.test" for index in range(arguments.domains)]
        print(
            f"template results: {len(templates)}, average JSON size "
            f"{sum(len(json.dumps(t)) for t in templates) / len(templates):.0f} bytes"
        )
        for writers in [int(item) for item in arguments.writers.split(",")]:
            dsn = bed.postgres.create_database(f"store_rate_{writers}")
            migrate(dsn)
            load_domains(bed.postgres, dsn, names, bed.workdir)
            queue = multiprocessing.Queue()
            processes = [
                multiprocessing.Process(
                    target=_writer,
                    args=(dsn, templates, arguments.batch, f"bench:{writers}:{index}", queue),
                )
                for index in range(writers)
            ]
            started = time.monotonic()
            for process in processes:
                process.start()
            stored = sum(queue.get() for _ in processes)
            for process in processes:
                process.join()
            elapsed = time.monotonic() - started
            report.measure(f"writers={writers}: rows stored", stored)
            report.measure(f"writers={writers}: rows per second", stored / elapsed, "rows/s")
    return report.finish(arguments.json)


if __name__ == "__main__":
    raise SystemExit(main())
