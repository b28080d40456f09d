"""Demo traffic: a customer-support assistant's day, produced through real instrumentation."""
