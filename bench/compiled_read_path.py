"""What a compiled read path would save a replay (issue #18): a prototype measured, not shipped.

Run: ``.venv/bin/python bench/compiled_read_path.py`` (about 20 s; starts its own nats-server;
needs a C compiler and the Python headers, and says so and stops if they are missing).

A replay's per-message work before decoding is done by :mod:`interpreters.stores.jetstream.
_replay` in Python: the tap cuts each ``HMSG`` frame out of the client's buffer
(``client_internals._take_tapped``) and hands it to ``Replay._on_raw``; when the burst has ended,
``Replay._stored`` parses the header blocks (``parse_header_blocks``), reads each ack subject
(``acked``), checks the consumer sequences and sets ``Nats-Sequence`` and ``Nats-Subject``.

This script fills a stream with 2,048 bank deposits (``bench/replay.py``'s ``fill``), pulls
them as one burst from a consumer over a plain socket (the bytes exactly as the server sends
them to cim's replay) and cuts the bytes into 32 KiB reads, as nats-py receives them. Then, over
the same reads, it times:

* **Python (shipped)**: the product's own functions above, on a ``Replay`` and its burst;
* **C (prototype)**: one C function, compiled here with ``cc``, that does the same per read:
  frames cut, header blocks parsed into dicts, ack subjects read, ``Nats-Sequence`` and
  ``Nats-Subject`` set, consumer sequences returned for the same check.

Both must give equal ``(headers, body)`` lists or the script fails. The prototype reads only
canonical frames (what this server writes for these events): to be shipped it would need
``parse_header_lines``' exact rules, a fallback for anything else and its own tests. Times are
process CPU time per event, medians of 9 interleaved runs, each from a collected heap.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.machinery
import importlib.util
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import nats
import orjson
from replay import _closed, _connected, fill, pull_consumer  # bench/replay.py, beside this

from interpreters.natsio.client_internals import _take_tapped
from interpreters.server import NatsServer
from interpreters.stores.jetstream._replay import Replay, Stored, _Burst

EVENTS = 2048  # one burst of cim's replay
READ = 32768  # what nats-py reads from its socket at a time
RUNS = 9

SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *names, *k_sequence, *k_subject;

static PyObject *name_of(const char *p, Py_ssize_t n) {  /* header names made once */
    PyObject *key = PyBytes_FromStringAndSize(p, n), *name;
    if (key == NULL) return NULL;
    name = PyDict_GetItemWithError(names, key);
    if (name != NULL) { Py_DECREF(key); Py_INCREF(name); return name; }
    name = PyUnicode_DecodeUTF8(p, n, "replace");
    if (name == NULL || PyDict_SetItem(names, key, name) < 0) { Py_DECREF(key); Py_XDECREF(name); return NULL; }
    Py_DECREF(key);
    return name;
}

static int number(const char *p, Py_ssize_t n, long long *out) {
    long long value = 0;
    if (n < 1 || n > 18) return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        value = value * 10 + (p[i] - '0');
    }
    *out = value;
    return 0;
}

static int set_new(PyObject *d, PyObject *key, PyObject *value) {  /* steals value */
    int failed = value == NULL || PyDict_SetItem(d, key, value) < 0;
    Py_XDECREF(value);
    return failed ? -1 : 0;
}

static int append_new(PyObject *list, PyObject *item) {  /* steals item */
    int failed = item == NULL || PyList_Append(list, item) < 0;
    Py_XDECREF(item);
    return failed ? -1 : 0;
}

/* scan(buffer) -> (consumed, headers, bodies, consumer_sequences): the whole consumer
   deliveries (HMSG subject sid reply hsize tsize) at the front of buffer. */
static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const char *p = view.buf, *end = p + view.len, *start = p;
    PyObject *headers = PyList_New(0), *bodies = PyList_New(0), *sequences = PyList_New(0);
    if (!headers || !bodies || !sequences) goto fail;
    while (end - p > 5 && memcmp(p, "HMSG ", 5) == 0) {
        const char *eol = memchr(p, '\n', end - p), *q = p + 5, *token[5];
        Py_ssize_t size[5];
        int count = 0;
        if (eol == NULL || eol[-1] != '\r') break;
        while (q < eol - 1 && count < 5) {
            const char *space = memchr(q, ' ', (eol - 1) - q), *stop = space ? space : eol - 1;
            token[count] = q; size[count] = stop - q; count++;
            q = space ? space + 1 : eol - 1;
        }
        long long hsize, tsize;
        if (count != 5 || q != eol - 1 || number(token[3], size[3], &hsize) < 0
            || number(token[4], size[4], &tsize) < 0 || hsize < 12 || tsize < hsize) break;
        const char *block = eol + 1;
        if (end - block < tsize + 2) break;  /* not whole yet */
        PyObject *d = PyDict_New();
        if (d == NULL || PyList_Append(headers, d) < 0) { Py_XDECREF(d); goto fail; }
        Py_DECREF(d);
        const char *line = block + 10, *last = block + hsize;
        while (line < last) {
            const char *cr = memchr(line, '\r', last - line), *colon;
            if (cr == NULL || cr == line) break;
            colon = memchr(line, ':', cr - line);
            if (colon != NULL) {
                const char *value = colon + 1;
                while (value < cr && *value == ' ') value++;
                PyObject *name = name_of(line, colon - line);
                if (name == NULL) goto fail;
                int failed = set_new(d, name, PyUnicode_DecodeUTF8(value, cr - value, "replace"));
                Py_DECREF(name);
                if (failed) goto fail;
            }
            line = cr + 2;
        }
        /* $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending> */
        const char *dot[9], *r = token[2], *r_end = token[2] + size[2];
        int dots = 0;
        for (const char *x = r; x < r_end && dots < 9; x++) if (*x == '.') dot[dots++] = x;
        long long consumer;
        if (dots != 8 || number(dot[5] + 1, dot[6] - dot[5] - 1, &consumer) < 0) goto fail;
        if (set_new(d, k_sequence, PyUnicode_DecodeASCII(dot[4] + 1, dot[5] - dot[4] - 1, NULL)) < 0
            || set_new(d, k_subject, PyUnicode_DecodeUTF8(token[0], size[0], "replace")) < 0
            || append_new(sequences, PyLong_FromLongLong(consumer)) < 0
            || append_new(bodies, PyBytes_FromStringAndSize(block + hsize, tsize - hsize)) < 0)
            goto fail;
        p = block + tsize + 2;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nNNN)", (Py_ssize_t)(p - start), headers, bodies, sequences);
fail:
    PyBuffer_Release(&view);
    Py_XDECREF(headers); Py_XDECREF(bodies); Py_XDECREF(sequences);
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "not a consumer delivery");
    return NULL;
}

static PyMethodDef methods[] = {{"scan", scan, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "read_path_prototype", NULL, -1, methods};

PyMODINIT_FUNC PyInit_read_path_prototype(void) {
    names = PyDict_New();
    k_sequence = PyUnicode_InternFromString("Nats-Sequence");
    k_subject = PyUnicode_InternFromString("Nats-Subject");
    if (!names || !k_sequence || !k_subject) return NULL;
    return PyModule_Create(&module);
}
"""


def compiled(folder: Path) -> ModuleType | None:
    """The prototype compiled with the machine's C compiler (``None``: it could not be)."""
    configured = (sysconfig.get_config_var("CC") or "cc").split()[0]
    compiler = shutil.which(configured) or shutil.which("cc")
    include = sysconfig.get_paths()["include"]
    if compiler is None or not Path(include, "Python.h").exists():
        return None
    source = folder / "read_path_prototype.c"
    source.write_text(SOURCE)
    target = folder / f"read_path_prototype{sysconfig.get_config_var('EXT_SUFFIX')}"
    build = [compiler, "-O2", "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(target)]
    if subprocess.run(build, capture_output=True, check=False).returncode != 0:
        return None
    loader = importlib.machinery.ExtensionFileLoader("read_path_prototype", str(target))
    spec = importlib.util.spec_from_file_location("read_path_prototype", target, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


async def burst_reads(url: str) -> list[bytes]:
    """EVENTS stored deposits, pulled as one burst over a plain socket, cut as nats-py reads."""
    nc = await nats.connect(url)
    await nc.jetstream().add_stream(name="PROTO", subjects=["proto.>"])
    await fill(nc, "PROTO", "proto", EVENTS)
    await nc.close()
    reader, writer = await _connected(url)
    name, _ = await pull_consumer(reader, writer, "PROTO", "proto.>")
    pull = orjson.dumps({"batch": EVENTS, "no_wait": True})
    writer.write(
        b"PUB $JS.API.CONSUMER.MSG.NEXT.PROTO.%s _replay.bench.1 %d\r\n%s\r\n"
        % (name.encode(), len(pull), pull)
    )
    received = bytearray()
    while received.count(b" $JS.ACK.") < EVENTS:
        received += await reader.read(1 << 20)
    await _closed(writer)
    data = bytes(received)
    return [data[at : at + READ] for at in range(0, len(data), READ)]


def python_path(reads: list[bytes]) -> list[Stored]:
    """The shipped read path over *reads*: the tap, then ``Replay._stored``."""
    replay = Replay(None, "PROTO", 5.0)  # type: ignore[arg-type]  # no connection needed
    burst = replay._burst = _Burst(asyncio.get_running_loop().create_future(), b"", EVENTS)
    taps: dict[int, Any] = {1: replay._on_raw}
    stats = {"in_msgs": 0, "in_bytes": 0}
    buffer = bytearray()
    for chunk in reads:
        buffer.extend(chunk)
        taken, _ = _take_tapped(buffer, taps, stats)
        del buffer[:taken]
    return replay._stored(burst)


def compiled_path(scan: Callable[[bytearray], Any]) -> Callable[[list[bytes]], list[Stored]]:
    """The prototype over *reads*: one C call per read, the same consumer-sequence check."""

    def read(reads: list[bytes]) -> list[Stored]:
        headers: list[dict[str, str]] = []
        bodies: list[bytes] = []
        sequences: list[int] = []
        buffer = bytearray()
        for chunk in reads:
            buffer.extend(chunk)
            taken, more_headers, more_bodies, more_sequences = scan(buffer)
            headers += more_headers
            bodies += more_bodies
            sequences += more_sequences
            del buffer[:taken]
        if sequences != list(range(1, len(sequences) + 1)):
            raise SystemExit("the consumer lost messages")
        return list(zip(headers, bodies, strict=True))

    return read


async def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        module = compiled(Path(folder))
        if module is None:
            print("no C compiler or Python headers here: nothing measured")
            return 0
        async with NatsServer(name="bench-read-path") as server:
            reads = await burst_reads(server.url)
        paths = {"Python (shipped)": python_path, "C (prototype)": compiled_path(module.scan)}
        expected = python_path(reads)
        if len(expected) != EVENTS or paths["C (prototype)"](reads) != expected:
            raise SystemExit("the prototype disagrees with the shipped read path")
        times: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(RUNS):
            for name, path in paths.items():
                gc.collect()
                start = time.process_time()
                path(reads)
                times[name].append(time.process_time() - start)
        micros = {name: statistics.median(values) / EVENTS * 1e6 for name, values in times.items()}
    shipped = micros["Python (shipped)"]
    print(f"| read path of one burst of {EVENTS:,} deliveries | µs/event | vs shipped |")
    print("|---|---:|---:|")
    for name, value in micros.items():
        print(f"| {name} | {value:.2f} | {value / shipped:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
