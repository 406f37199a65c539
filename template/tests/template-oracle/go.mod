module sesame/template-oracle

go 1.19
