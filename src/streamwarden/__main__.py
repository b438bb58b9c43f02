from streamwarden.cli import main

main()
