"""cnnviz: explore convolutional neural network architectures in a classroom.

Importing :mod:`cnnviz` is cheap: no TensorFlow, no Streamlit. Heavy modules
(:mod:`cnnviz.zoo`, :mod:`cnnviz.infer`, :mod:`cnnviz.visualize`) import
TensorFlow only when they are imported themselves.
"""

import os as _os

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) says nothing a student can act on;
# warnings and errors still show. Set before any cnnviz module imports TensorFlow.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

HOMEWORK_MODELS = ("resnet50", "efficientnetb0", "mobilenetv3small", "convnexttiny")
"""The four models of the course's homework, in the order the pages show them."""
