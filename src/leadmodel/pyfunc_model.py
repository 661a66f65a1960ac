"""The MLflow "model from code" entry: MLflow runs this file to build the pyfunc model.

Logging the model as code rather than as a pickled Python object means MLflow never
cloudpickles a class (and never warns about loading one); the code that runs is the
installed ``leadmodel`` package's, and the fitted model itself is the ``funnel``
artifact (joblib) that :class:`leadmodel.tracking.LeadScorer` loads.
"""

from mlflow.models import set_model

from leadmodel.tracking import LeadScorer

set_model(LeadScorer())
