from ecad.cli.main import main

main()
