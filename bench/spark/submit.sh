# Sourced by the Spark benchmark scripts: sets `python` (PySpark's interpreter) and `spark_submit`,
# the command that runs bench/spark/job.py on local[2] with the Kafka connector of the same
# version (Maven Central, cached in .cache/spark/ivy). The JVM is the process spark-submit
# starts, with the Python driver as its child, so /usr/bin/time measures both.
python=$(bench/spark/env.sh)
spark_version=$("$python" -c 'import pyspark; print(pyspark.__version__)')
export PYSPARK_PYTHON=$python PYSPARK_DRIVER_PYTHON=$python
spark_submit=("$(dirname "$python")/spark-submit" --master "local[2]" --driver-memory "${SPARK_DRIVER_MEMORY:-4g}"
  --packages "org.apache.spark:spark-sql-kafka-0-10_2.13:$spark_version"
  --conf "spark.jars.ivy=$PWD/.cache/spark/ivy" --conf spark.ui.enabled=false
  bench/spark/job.py)
