"""The main job's home: orchestration of data_gen -> train -> eval (it imports all three; none of them imports it)."""
