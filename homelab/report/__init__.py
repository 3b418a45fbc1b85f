"""The run's results, and what an auditor reads of them.

`audit` (registered by the plugin for every spec run: waivers applied, results collected, the exit code, the files
written) over `results` (results.json, history, drift), `columns` (each spec's identity in the report, masked),
`risks` (the risks the homelab accepts, in every report), and the renderings: `audit_html` with
`audit_matrix_html` (report.html), `promexport` (compliance.prom).

Imports homelab.model, homelab.transport, homelab.clients and homelab.checks; only homelab.specs imports it.
"""
