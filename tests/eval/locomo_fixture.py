"""A two-session conversation in LOCOMO's file format, small enough to run the whole harness in a test."""

import json


def tiny_locomo(path):
    conv = {
        "speaker_a": "Maya", "speaker_b": "Tom",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Maya", "dia_id": "D1:1", "text": "I adopted a beagle called Pixel yesterday!"},
            {"speaker": "Tom", "dia_id": "D1:2", "text": "Lovely. I still live in Leeds with my two cats."},
            {"speaker": "Maya", "dia_id": "D1:3", "text": "I work as a nurse at the city hospital.",
             "blip_caption": "a photo of a hospital"},
            {"speaker": "Tom", "dia_id": "D1:4", "text": "I am training for the York marathon."},
        ],
        "session_2_date_time": "10:00 am on 20 June, 2023",
        "session_2": [
            {"speaker": "Maya", "dia_id": "D2:1", "text": "Pixel learned to sit last week."},
            {"speaker": "Tom", "dia_id": "D2:2", "text": "I moved to York in June."},
        ],
    }
    qa = [
        {"question": "What is the name of Maya's dog?", "answer": "Pixel", "evidence": ["D1:1"], "category": 4},
        {"question": "Where does Tom live now?", "answer": "York", "evidence": ["D1:2", "D2:2"], "category": 1},
        {"question": "When did Maya adopt her dog?", "answer": "7 May 2023", "evidence": ["D1:1"], "category": 2},
        {"question": "What is Maya's job?", "answer": "nurse", "evidence": ["D1:3"], "category": 3},
        {"question": "What is Tom's dog called?", "adversarial_answer": "Rex", "evidence": ["D1:2"],
         "category": 5},
    ]
    data = [{"sample_id": "conv-30", "conversation": conv, "qa": qa},
            {"sample_id": "conv-99", "conversation": conv, "qa": qa[:1]}]
    path.write_text(json.dumps(data))
    return path
