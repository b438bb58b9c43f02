"""streamwarden.probe"""
