"""rlgen: Keras classifiers, reinforcement-learning agents and a DCGAN for the classroom.

Importing this package is cheap: TensorFlow loads only when a model is built or trained.
"""

__version__ = "0.1.0"
