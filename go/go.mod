module jina3

go 1.19
