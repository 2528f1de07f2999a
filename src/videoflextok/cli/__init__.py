"""The ``videoflextok`` (alias ``vft``) command line. One module per command group."""
