"""cnnviz: explore convolutional neural network architectures in a classroom.

Importing :mod:`cnnviz` is cheap: no TensorFlow, no Streamlit. Heavy modules
(:mod:`cnnviz.zoo`, :mod:`cnnviz.infer`, :mod:`cnnviz.visualize`) import
TensorFlow only when they are imported themselves.
"""

__version__ = "0.1.0"

HOMEWORK_MODELS = ("resnet50", "efficientnetb0", "mobilenetv3small", "convnexttiny")
"""The four models of the course's homework, in the order the pages show them."""
