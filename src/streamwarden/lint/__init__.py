"""streamwarden.lint"""
