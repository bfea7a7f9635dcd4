"""The detection stage: YOLOv8 detectors, their files, training of the smoke's tiny ones, ultralytics set-up."""
