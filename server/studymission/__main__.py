from studymission.cli import main

main()
