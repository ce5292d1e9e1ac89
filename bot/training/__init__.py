"""Training the models paperbot ships (run from a checkout with ``../shared`` beside it).

- :mod:`bot.training.perturb`: hard negatives made from a true statement (a number changed, a
  negation flipped, a direction swapped);
- :mod:`bot.training.nli_data`: (claim, evidence, label) pairs for the entailment verifier,
  built from the public claim/evidence data sets in ``../shared``;
- :mod:`bot.training.nli_train`: fine-tunes the entailment cross-encoder, cross-validates it on
  the SciFact train claims, calibrates its threshold and writes the weights and model card
  (``paperbot train verifier``).

Nothing here is imported by the product at run time.
"""
