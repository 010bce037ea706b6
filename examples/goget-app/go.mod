// This directory is an application outside quarry's module (so that
// `go build ./...` in the repository skips it): scripts/goget/run.sh copies
// main.go into an empty directory and runs `go mod init` there.
module example.com/goget-app

go 1.26
