"""The OTLP receiver: applications send traces and logs over HTTP (protobuf or JSON) or gRPC, and every
acknowledged request ends in a landing file the ingestion reads.

A request is parsed and checked (:mod:`.payloads`), appended to this process's spool and fsynced
(:mod:`.spool`) before it is acknowledged; a publisher thread turns each sealed spool segment into one
OTLP/JSON-lines landing file, written under a hidden name and renamed when complete (:mod:`.publisher`).
Acknowledging costs a protobuf parse and a disk append, so the receiver keeps up with exporters at
the speed of the parse; the conversion to JSON runs behind it, bounded by the spool limit
(backpressure: 503 with ``Retry-After`` instead of memory growth).
"""
