"""Room 2 of the core. Video in: decoding as recorded (rotation, frame rate), face
masking, the masked copy.
"""
