from pgunify.cli import main

main()
