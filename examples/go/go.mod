module jina3example

go 1.19
