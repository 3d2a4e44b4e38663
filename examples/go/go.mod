module jina3example

go 1.19

require jina3 v0.0.0

// The jina3 module from this checkout, as an outside program would point at its copy.
replace jina3 => ../../go
