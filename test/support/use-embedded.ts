process.env.PULSE_TEST_DATABASE = 'embedded';
