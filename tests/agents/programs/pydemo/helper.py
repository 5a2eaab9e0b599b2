def greeting(who: str) -> str:
    return f"hello, {who}, from a sibling module"
