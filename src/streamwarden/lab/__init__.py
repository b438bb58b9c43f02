"""streamwarden.lab"""
